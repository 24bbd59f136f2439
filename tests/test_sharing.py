"""Sessions of one server share what depends only on the model, the sets, β / ν and the points
(dashboard.shared), and keep their own choices: two AppTest sessions in one process, as two browsers
on one server (Streamlit's caches are per process)."""

from __future__ import annotations

from collections import Counter

import pytest

from dashboard import figures, shared, views
from tests.test_app import few_points, metrics, navigation_pages, open_page, problems, warm_default_model  # noqa: F401


@pytest.fixture
def built(monkeypatch):
    """How many times each shared builder ran (caches emptied first)."""
    import streamlit as st

    st.cache_data.clear()
    calls = Counter()

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    for module, name in ((figures, "histograms"), (figures, "roc"), (figures, "ternary"), (views, "with_scores")):
        monkeypatch.setattr(module, name, counted(name, getattr(module, name)))
    return calls


def _charts(at) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def test_two_sessions_on_tune_get_the_same_numbers_built_once_and_keep_their_own_beta(built):
    first, second = open_page("tune"), open_page("tune")
    assert not problems(first) and not problems(second), problems(first) + problems(second)
    assert metrics(first) == metrics(second) and "per-class AUROC" in metrics(first)
    assert _charts(first) == _charts(second) and len(_charts(first)) == 2  # Fig. 7 and the ternary map
    assert built["ternary"] == 1 and built["histograms"] == built["roc"] == 0  # the second session's were the first's

    first.slider(key="_beta").set_value(0.8).run()  # one session moves β: the other's stays
    assert metrics(first) != metrics(second)
    assert second.slider(key="_beta").value == 0.5 and second.session_state["beta_weight"] == 0.5
    assert built["ternary"] == 2
    second.run()
    assert second.slider(key="_beta").value == 0.5 and all(not m.delta for m in second.metric)

    second.slider(key="_beta").set_value(0.8).run()  # the same β: the same numbers, built once
    assert metrics(first) == metrics(second) and _charts(first) == _charts(second)
    assert built["ternary"] == 2
    assert [m.delta for m in first.metric] == [m.delta for m in second.metric]  # each against its own β before

    for group, name in (("ROC curves", "roc"), ("Score histograms", "histograms")):  # each group: its own chart, once
        for at in (first, second):
            at.segmented_control(key="tune_charts").set_value(group).run()
        assert _charts(first) == _charts(second) and len(_charts(first)) == 1 and built[name] == 1
    assert metrics(first) == metrics(second) and built["ternary"] == 2


def test_a_session_changing_its_copy_changes_nobody_elses(built):
    at = open_page("tune")
    ids = at.session_state["_context"].ids
    model = shared.fingerprint(ids)
    table, heads = shared.tune_metrics(ids, model, (0.5, 0.5, 0.0))
    table.loc[:, "AUROC"] = -1.0
    heads["per-class"]["AUROC"] = -1.0
    again, heads_again = shared.tune_metrics(ids, model, (0.5, 0.5, 0.0))
    assert (again["AUROC"] >= 0).all() and heads_again["per-class"]["AUROC"] >= 0
    parts = shared.roc(ids, model, (0.5, 0.5, 0.0))
    parts["data"].clear()
    assert shared.roc(ids, model, (0.5, 0.5, 0.0))["data"]


def test_two_sessions_on_explore_share_the_scored_points_and_keep_their_own_selection(built):
    first, second = open_page("explore"), open_page("explore")
    assert not problems(first) and not problems(second), problems(first) + problems(second)
    rows = [[d.data.data for d in chart.proto.datasets] for chart in first.get("vega_lite_chart")]
    assert rows == [[d.data.data for d in chart.proto.datasets] for chart in second.get("vega_lite_chart")]
    assert built["with_scores"] == 1  # scored once at this β, for both layers and both sessions

    mdl_key = list(first.session_state["_explore_seen"])[0]
    first.session_state[mdl_key] = {"selection": {"pick": [{"row": 3}], "box": {}}}
    first.run()
    second.run()
    assert first.session_state["explore_selection"]["rows"] == [3]
    assert not second.session_state["explore_selection"].get("rows") and not second.get("image")
    assert built["with_scores"] == 1


def test_the_mdl_box_starts_from_the_kept_choice_whenever_streamlit_makes_it_anew():
    """Under a class's load Streamlit dropped the box's own state and the browser's new box showed its
    default, the network's first layer, for the rest of that session: the default is the kept choice."""
    key = "_layer:lenet-mnist"
    at = open_page("start")
    box = at.selectbox(key=key)
    auto, layers = box.value, [option.split()[0] for option in box.options]
    assert "★" in box.options[box.proto.default] and layers[box.proto.default] == auto != layers[0]
    other = next(layer for layer in layers[1:] if layer != auto)
    at.selectbox(key=key).set_value(other).run()  # a choice of this session's own
    box = at.selectbox(key=key)
    assert box.value == other and layers[box.proto.default] == other and at.session_state["layer:lenet-mnist"] == other
    assert open_page("start").selectbox(key=key).value == auto  # another session's is its own
