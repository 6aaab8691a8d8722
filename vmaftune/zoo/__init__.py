"""The model zoo: the registry (sha256-pinned ONNX files), where models run (engines,
inference), what they do over whole videos (prefilter, scores, predictor), and the data
the predictor learns from (features, corpus)."""
