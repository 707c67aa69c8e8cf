"""compgraph's experiments: MNIST data and training, the lecture's worked examples,
benchmarks, and the ``compgraph`` command line."""
