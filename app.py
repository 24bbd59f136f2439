"""Streamlit dashboard of the uniform anomaly detector: `streamlit run app.py`.

Builds the navigation and the shared sidebar (model, ID dataset, anomaly sets, MDL);
each page in pages/ only draws what detector/ and dashboard/ compute.
"""

import streamlit as st

from dashboard import sidebar, state
from dashboard.messages import errors_shown

st.set_page_config(page_title="Uniform anomaly detection", page_icon=":material/radar:", layout="wide")

PAGES = [
    st.Page("pages/start.py", title="Start", icon=":material/flag:", default=True),
    st.Page("pages/explore.py", title="Explore layers", icon=":material/scatter_plot:"),
    st.Page("pages/layers.py", title="Layers", icon=":material/layers:"),
    st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
    st.Page("pages/benchmark.py", title="Benchmark", icon=":material/leaderboard:"),
    st.Page("pages/inspect_input.py", title="Inspect", icon=":material/search:"),
    st.Page("pages/how_it_works.py", title="How it works", icon=":material/school:"),
]

navigation = st.navigation(PAGES)
state.CONTEXT.set(None)  # a sidebar that fails leaves no context of an earlier run to the page
with errors_shown("building the sidebar"):  # one line and an id in the browser, the traceback in the log
    state.CONTEXT.set(sidebar.sidebar())
state.APP_RAN.set(True)
with errors_shown("drawing this page"):
    navigation.run()
