import streamlit as st

st.title("layers")
