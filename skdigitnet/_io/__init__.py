"""Ways in and out: model files (save_model, load_model) and exports (to scikit-learn's
MLPClassifier, to ONNX)."""
