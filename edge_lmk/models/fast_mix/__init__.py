"""The mixed fast family: the fast family's layout with dense 3x3 convs where the maps are large
and depthwise-separable ones where they are small (``generator.py``); ``family.py`` registers it
and its ``LOSS_wN_D_fmx`` names."""
