"""The depthwise fast family: the fast family's layout with depthwise-separable convolutions
(``generator.py``); ``family.py`` registers it and its ``LOSS_wN_D_fdw`` names."""
