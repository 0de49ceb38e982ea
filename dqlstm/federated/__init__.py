"""Federated learning of (quantum) LSTMs: FedAvg over clients with their own data shards."""

from dqlstm.federated.config import FEDERATED_SCHEMA, load_federated_config, resolve_federated_config
from dqlstm.federated.fedavg import fedavg, nonfinite_entries
from dqlstm.federated.metrics import accuracy, bce_with_logits, roc_auc
from dqlstm.federated.partition import (
    PARTITIONS,
    client_seed,
    clients_per_round,
    partition_indices,
    sample_clients,
)
from dqlstm.federated.run import ROUNDS_PLOT, FederatedResult, build_federation, run_federated
from dqlstm.federated.server import (
    OPTIMIZER_STATES,
    Client,
    ClientFailureWarning,
    ClientUpdate,
    FederatedServer,
    LocalTraining,
    RoundResult,
)
from dqlstm.federated.tasks import TABULAR_TASKS, FederatedTask, load_task

__all__ = [
    "FEDERATED_SCHEMA",
    "OPTIMIZER_STATES",
    "PARTITIONS",
    "ROUNDS_PLOT",
    "TABULAR_TASKS",
    "Client",
    "ClientFailureWarning",
    "ClientUpdate",
    "FederatedResult",
    "FederatedServer",
    "FederatedTask",
    "LocalTraining",
    "RoundResult",
    "accuracy",
    "bce_with_logits",
    "build_federation",
    "client_seed",
    "clients_per_round",
    "fedavg",
    "load_federated_config",
    "load_task",
    "nonfinite_entries",
    "partition_indices",
    "resolve_federated_config",
    "roc_auc",
    "run_federated",
    "sample_clients",
]
