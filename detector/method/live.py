"""The live changes of a fitted detector, beside scikit-learn's ``set_params`` (which only stores a value
for the next fit, as in scikit-learn): new weights re-threshold from the validation scores kept at fit
(:meth:`~LiveChanges.set_beta`, or a copy with :meth:`~LiveChanges.with_beta`), a new nu refits the SVDDs
on the training features kept at fit (:meth:`~LiveChanges.set_nu`). The dashboard's sliders use them."""

from __future__ import annotations

import copy

from sklearn.exceptions import NotFittedError


class LiveChanges:
    """Mixin of :class:`~detector.method.uniform.UniformDetector`: its live verbs."""

    def with_beta(self, beta) -> "LiveChanges":
        """A copy with other weights (and their thresholds); this detector is left as it is,
        so that one fitted detector can be shared, e.g. by the dashboard's sessions."""
        self._check_fitted()
        return copy.copy(self).set_beta(beta)

    def set_beta(self, beta) -> "LiveChanges":
        """New weights: only the thresholds change (from cached validation scores), no refit. A beta
        that is refused (here, or by a detector saved without the confidence term) changes nothing."""
        self._check_fitted()
        beta = self.check_beta(beta)
        self.thresholds_, self.beta, self.beta_ = self.thresholds_for(beta), beta, beta
        return self

    def set_nu(self, nu) -> "LiveChanges":
        """New nu: refit the SVDDs on the features kept from ``fit``; the MDL stays.

        Not on a detector from :meth:`load`: the file keeps the SVDDs, not the training features they
        were fitted on, so it is refused (NotFittedError, nothing changed); fit one with the new nu."""
        self._check_fitted()
        nu = self.check_nu(nu)
        if not hasattr(self, "_train"):
            raise NotFittedError(f"cannot refit the SVDDs with nu={nu:g}: a detector loaded from a file keeps no "
                                 "training features; fit a new one with this nu (UniformDetector(..., nu=...).fit)")
        self.nu = nu
        return self._fit_svdds()
