"""Export shipped models to ExecuTorch, Core ML, LiteRT and ONNX with parity checks; see export/README.md."""
