"""The dashboard's shared code, beside the pages in pages/.

- :mod:`dashboard.sidebar`: the shared sidebar and the per-session context pages read;
- :mod:`dashboard.loaders`: cached loaders (Streamlit caches, keyed by small ids);
- :mod:`dashboard.views`: view-models, what a page draws (no Streamlit);
- :mod:`dashboard.figures`: Plotly / Altair figures, used by the pages and by notebooks (no Streamlit);
- :mod:`dashboard.server`: starting the app in a background server (browser tests, app benchmark);
- ``python -m dashboard``: the server, with UMAP's JIT warmed in a background thread from its start.
"""
