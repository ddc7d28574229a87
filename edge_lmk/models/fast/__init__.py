"""The fast family: a latency-first generator with 40x40 heatmaps (``generator.py``); ``family.py``
registers it and its ``LOSS_wN_D_fast`` names."""
