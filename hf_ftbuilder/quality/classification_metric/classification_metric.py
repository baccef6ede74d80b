"""Accuracy with macro precision, recall and F1: the figures hf_ftbuilder's card reports.

Load it offline with ``evaluate.load(hf_ftbuilder.quality.METRIC_PATH)`` and use it in a
Trainer's ``compute_metrics``::

    metric = evaluate.load(METRIC_PATH)
    def compute_metrics(pred):
        return metric.compute(predictions=pred.predictions.argmax(-1), references=pred.label_ids)

The numbers are scikit-learn's (``accuracy_score``, ``precision_recall_fscore_support`` with
``zero_division=0``). ``average`` is ``macro`` (default), ``micro`` or ``weighted``.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score
from sklearn.metrics import precision_recall_fscore_support

_DESCRIPTION = "Accuracy and macro-averaged precision, recall and F1 of a classifier (scikit-learn)."
_KWARGS = """
Args:
    predictions: predicted class ids.
    references: true class ids.
    average: macro (default), micro or weighted.
Returns:
    accuracy, precision, recall, f1.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ClassificationMetric(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, average="macro"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, average=average, zero_division=0
        )
        return {
            "accuracy": float(accuracy_score(references, predictions)),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
        }
