"""The Table 1 family: the heatmap generator of the LaplaceKL paper's Table 1 (``generator.py``);
``family.py`` registers it and its ``LOSS_wN_D_t1`` names."""
