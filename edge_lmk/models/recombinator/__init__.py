"""The recombinator family: this kit's U-Net-like 4-branch generator (``generator.py``), its width
ladder, pruned and MLP-head variants (``family.py`` registers them)."""
