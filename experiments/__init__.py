"""compgraph's experiments and its command line, a module per job:

- the data: ``idx`` (MNIST's file format), ``download`` (mirrors, checksums),
  ``datasets`` (MNIST and Fashion-MNIST from disk, the cache, a download or the
  fallback digits);
- the training: ``networks`` (the lecture's 2-, 3- and 4-layer networks as graphs),
  ``training`` (the Solver, which trains any model keeping its contract);
- the commands: ``cli`` (``compgraph``, routing every subcommand), ``train_mnist`` and
  ``compare`` (with ``runs``, their shared options and output files, and ``plots``,
  the curves), ``demo``, ``explain``, ``lecture`` (the lecture's worked examples;
  ``lecture.ipynb`` is its notebook), ``check_command`` (``compgraph check`` with the
  graph's built-in blocks); the grader's commands are ``gates.grade.commands``;
- the benchmarks: ``bench_graph``, ``bench_train``, ``bench_grade`` (scripts, never
  timed tests).
"""
