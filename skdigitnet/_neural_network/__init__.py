"""The estimator: DigitMLPClassifier, its parameters, fit's input, the training loop
and the math of the network."""
