"""Federated learning of (quantum) LSTMs: FedAvg over clients with their own data shards.

Names load on first use: ``dqlstm federate`` checks a config without loading torch.
"""

from __future__ import annotations

from dqlstm.lazy import lazy_exports

_EXPORTS = {
    "FEDERATED_SCHEMA": "dqlstm.federated.config",
    "load_federated_config": "dqlstm.federated.config",
    "resolve_federated_config": "dqlstm.federated.config",
    "fedavg": "dqlstm.federated.averaging",
    "nonfinite_entries": "dqlstm.federated.averaging",
    "accuracy": "dqlstm.federated.metrics",
    "bce_with_logits": "dqlstm.federated.metrics",
    "roc_auc": "dqlstm.federated.metrics",
    "PARTITIONS": "dqlstm.federated.partition",
    "client_seed": "dqlstm.federated.partition",
    "clients_per_round": "dqlstm.federated.partition",
    "partition_indices": "dqlstm.federated.partition",
    "sample_clients": "dqlstm.federated.partition",
    "ROUNDS_PLOT": "dqlstm.federated.run",
    "FederatedResult": "dqlstm.federated.run",
    "build_federation": "dqlstm.federated.run",
    "run_federated": "dqlstm.federated.run",
    "OPTIMIZER_STATES": "dqlstm.federated.server",
    "Client": "dqlstm.federated.server",
    "ClientFailureWarning": "dqlstm.federated.server",
    "ClientUpdate": "dqlstm.federated.server",
    "FederatedServer": "dqlstm.federated.server",
    "LocalTraining": "dqlstm.federated.server",
    "RoundResult": "dqlstm.federated.server",
    "TABULAR_TASKS": "dqlstm.federated.tasks",
    "FederatedTask": "dqlstm.federated.tasks",
    "load_task": "dqlstm.federated.tasks",
}
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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
