"""Inputs: the gate every image passes (shape, range, layout), file readers and drawings."""
