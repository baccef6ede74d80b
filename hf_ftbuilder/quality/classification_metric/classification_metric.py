"""Accuracy with macro precision, recall and F1: the figures hf_ftbuilder's card reports.

Load it offline with ``evaluate.load(hf_ftbuilder.quality.METRIC_PATH)`` and use it in a
Trainer's ``compute_metrics``::

    metric = evaluate.load(METRIC_PATH)
    def compute_metrics(pred):
        return metric.compute(predictions=pred.predictions.argmax(-1), references=pred.label_ids)

The numbers are scikit-learn's (``accuracy_score``, ``precision_recall_fscore_support`` with
``zero_division=0``). ``average`` is ``macro`` (default), ``micro`` or ``weighted``.

Rows with several labels: the ``multilabel`` config takes a 0/1 row per example (one column per
label) and gives micro and macro precision, recall and F1, subset accuracy (rows whose whole label
set is right) and Hamming loss (share of wrong row-label cells), the figures of
``hf_ftbuilder.quality.baseline.multilabel_scores``. With a model giving one logit per label, a
label is predicted when its logit is above 0 (its probability above 0.5)::

    metric = evaluate.load(METRIC_PATH, "multilabel")
    def compute_metrics(pred):
        return metric.compute(predictions=(pred.predictions > 0).astype(int),
                              references=pred.label_ids.astype(int))

    metric.compute(predictions=[[1, 0, 1], [0, 1, 0]], references=[[1, 0, 0], [0, 1, 0]])
    # {'micro_precision': 0.666..., 'micro_recall': 1.0, ..., 'subset_accuracy': 0.5, 'hamming_loss': 0.166...}
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score
from sklearn.metrics import hamming_loss
from sklearn.metrics import precision_recall_fscore_support

_DESCRIPTION = "Accuracy and macro-averaged precision, recall and F1 of a classifier (scikit-learn)."
_KWARGS = """
Args:
    predictions: predicted class ids (multilabel: a 0/1 row per example, one column per label).
    references: true class ids (multilabel: the same).
    average: macro (default), micro or weighted; single-label only.
Returns:
    accuracy, precision, recall, f1; multilabel: micro_ and macro_ precision, recall and f1,
    subset_accuracy, hamming_loss.
"""
_CONFIGS = ("default", "multilabel")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ClassificationMetric(evaluate.Metric):
    def _info(self):
        if self.config_name not in _CONFIGS:
            raise ValueError(f"config_name must be one of {_CONFIGS}; got {self.config_name!r} instead")
        if self.config_name == "multilabel":
            value = datasets.Sequence(datasets.Value("int64"))
        else:
            value = datasets.Value("int64")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": value, "references": value}),
        )

    def _compute(self, predictions, references, average="macro"):
        if self.config_name == "multilabel":
            return _multilabel(predictions, references)
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, average=average, zero_division=0
        )
        return {
            "accuracy": float(accuracy_score(references, predictions)),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
        }


def _multilabel(predictions, references):
    labels = None
    if len(references) and len(references[0]) == 1:
        # One column is a binary target to scikit-learn, not a label set: score its class 1.
        predictions, references, labels = [p[0] for p in predictions], [r[0] for r in references], [1]
    out = {}
    for average in ("micro", "macro"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, labels=labels, average=average, zero_division=0
        )
        out.update({f"{average}_precision": float(precision), f"{average}_recall": float(recall),
                    f"{average}_f1": float(f1)})
    out["subset_accuracy"] = float(accuracy_score(references, predictions))
    out["hamming_loss"] = float(hamming_loss(references, predictions))
    return out
