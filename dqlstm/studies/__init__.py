"""Studies built on the training and cutting code (docs/design.md, experiments).

- :mod:`dqlstm.studies.compare`: the distributed-QLSTM paper's comparison
  (classical LSTM, centralised QLSTM, distributed QLSTM with and without
  inter-module links), many seeds and tasks, one ``run_training`` per run.
- :mod:`dqlstm.studies.sweep`: cut cost versus qubit count and QPU capacity.
- :mod:`dqlstm.studies.noise`: sampled mode on noisy Aer QPUs versus noiseless.
"""
