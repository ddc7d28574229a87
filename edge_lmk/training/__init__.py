"""Training: the configuration dataclass (``config.TrainConfig``, shared by the ``train`` CLI, ``ship``,
``ablation`` and ``campaign``), the loop (``loop.train``), data-parallel training under torchrun
(``distributed``), the +D adversarial branch (``adversarial``) and the resume rules (``resume``)."""
