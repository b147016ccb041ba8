"""Save, list, tag and load a model on the embedded default (./registry.db), or on the database
named by $MODEL_REGISTRY_URL. Run: python examples/quickstart.py"""

from __future__ import annotations

import registry_core


class ThresholdModel:
    """A stand-in for a trained model: anything picklable works."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, xs: list[float]) -> list[int]:
        return [int(x > self.threshold) for x in xs]


def main() -> None:
    with registry_core.connect() as reg:
        previous = reg.list_versions("churn_classifier") if reg.list_models() else []
        v = reg.save_model(
            ThresholdModel(0.5),
            "churn_classifier",
            description="baseline threshold",
            tags={"type": "classification", "team": "growth"},
            metrics={"accuracy": 0.80 + 0.01 * len(previous)},
            parents=[("churn_classifier", previous[-1].version)] if previous else None,
        )
        print(f"saved {v.name} version {v.version} ({v.file_size_bytes} bytes, {v.checksum})")
        reg.set_tag(v.name, v.version, "stage", "staging")

        for model in reg.list_models():
            versions = reg.list_versions(model.name)
            print(f"{model.name}: versions {', '.join(x.version for x in versions)}")
        best = reg.best_version("churn_classifier", "accuracy")
        reg.set_alias("churn_classifier", "champion", best.version)
        print(
            f"champion: version {best.version} (accuracy {best.metrics['accuracy']:.2f}), "
            f"derived from {[x.version for x in reg.lineage(best.name, best.version)]}"
        )
        latest = reg.load_model("churn_classifier", alias="champion")
        print("champion predicts", latest.predict([0.2, 0.7]))
        print(
            "tagged classification:",
            [(x.name, x.version) for x in reg.find_by_tag("type", "classification")],
        )
        s = reg.stats()
        print(
            f"{s.total_models} model(s), {s.total_versions} version(s), "
            f"{s.total_size_bytes} bytes stored"
        )
        db = reg.database_stats()
        print(
            f"{db.backend} {db.server_version}, schema {db.schema_version}, "
            f"{db.size_bytes} bytes, rows {db.row_counts}"
        )


if __name__ == "__main__":
    main()
