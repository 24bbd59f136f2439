""""Why this verdict" never contradicts the verdict: notes built from constructed scores, in every
combination of verdict, failing terms, weights of 0, unusual ink and far neighbours."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from detector.method.verdicts import Neighbours, Verdict, term_notes, verdict_notes

TAUS = np.array([0.2, 0.3, 0.4, 0.1])


def _verdict(values, beta, tau=0.25):
    values = list(values) + [np.nan] * (4 - len(values))
    score = float(np.dot(beta, values[:len(beta)]))
    return Verdict(4, 0.9, values[0], values[1], values[2], score, tau, score < tau, values[3], tuple(beta))


FAR = [Neighbours("relu1", np.arange(3), np.array([5.0, 6.0, 7.0]), usual=2.0)]
THIN = (np.array([0.05, 0.4]), np.array([[0.08, 0.3], [1.2, 4.8]]))  # an ink area and a stroke width below the range


@pytest.mark.parametrize("values, beta", [
    ((0.9, 0.9, 0.9, 0.9), (0.2, 0.1, 0.2, 0.5)),  # every term passes
    ((-0.5, 0.9, 0.9, 0.9), (0.2, 0.1, 0.2, 0.5)),  # one fails
    ((-0.5, -0.4, -0.3, -0.9), (0.2, 0.1, 0.2, 0.5)),  # all fail
    ((0.9, 0.9, -3.0), (0.5, 0.5, 0.0)),  # only the weight-0 term fails
    ((0.21, 0.31, 0.41), (0.5, 0.5, 0.0)),  # every counted term passes, g just below tau (tau above both)
    ((0.9, -0.2, 0.9, 0.12), (0.3, 0.3, 0.0, 0.4)),
])
@pytest.mark.parametrize("tau", [0.0, 0.35, 0.9])
@pytest.mark.parametrize("far, ink", list(itertools.product([False, True], repeat=2)))
def test_notes_agree_with_the_verdict_in_every_combination(values, beta, tau, far, ink):
    verdict = _verdict(values, beta, tau)
    notes = verdict_notes(verdict, TAUS[:len(beta)], "A", FAR if far else [], *(THIN if ink else (None, None)))
    text = "\n".join(notes)
    assert notes[0].startswith("anomaly:" if verdict.is_anomaly else "normal:")
    if verdict.is_anomaly:
        assert "passes τ" not in text and "still passes" not in text and "outweighed" not in text
        assert f"falls {verdict.tau - verdict.score:.3f} below" in notes[0]
        assert ("nothing like it was seen in training" in text) == far
    else:
        assert "nothing like it was seen" not in text and "has seen no" not in text and "below τ" not in text
        assert f"by {verdict.score - verdict.tau:.3f}" in notes[0]
        assert ("unusual in this layer, but the detector's score still passes" in text) == far
    if ink:
        assert any(note.startswith("its stroke width") and "thinner than 99 %" in note for note in notes)
    # each term: passed or failed against its own threshold, by how much; weight 0 does not count
    for (name, value, weight), note in zip(verdict.terms, term_notes(verdict, TAUS[:len(beta)])):
        assert note in notes and note.startswith(f"{name} term:")
        if weight == 0:
            assert "does not count" in note and "fails" not in note and "passes" not in note
        else:
            tau_term = TAUS[[t for t, _, _ in verdict.terms].index(name)]
            assert ("passes" if value >= tau_term else "fails") in note and f"by {abs(value - tau_term):.3f}" in note
    failing = [name for (name, value, weight), t in zip(verdict.terms, TAUS) if weight > 0 and value < t]
    if failing:
        assert all(name in notes[0] for name in failing)


def test_a_normal_capital_a_far_from_training_is_not_told_nothing_like_it_was_seen():
    """The walkthrough's case: Normal beside "nothing like it was seen in training"."""
    verdict = _verdict((0.6, 0.7, 0.9), (0.5, 0.5, 0.0), tau=0.3)
    assert not verdict.is_anomaly
    notes = verdict_notes(verdict, TAUS[:3], "4", FAR)
    assert not any("nothing like it" in note for note in notes)
    assert any("confidence term: weight 0, does not count" in note for note in notes)


def test_a_score_only_verdict_has_one_note():
    verdict = Verdict(1, 0.5, np.nan, np.nan, np.nan, -0.2, 0.1, True)
    assert verdict.terms == [] and verdict_notes(verdict, [], "1") == ["anomaly: g = -0.200 falls 0.300 below τ of 1 (0.100)"]
