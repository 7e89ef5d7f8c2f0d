"""Model scores: BIC and hlta-xai's "batch BIC" (spec §1 and §2 "Batch BIC")."""

from __future__ import annotations

import math


def bic(loglik: float, dimension: int, total: float, batch_size: int | None = None) -> float:
    """BIC(m|D) = LL - dim/2 ln N, or the batch BIC when ``0 < batch_size < total``.

    The batch BIC scores an "average" batch of B documents: LL * B/N - dim/2 ln B
    (kmpoon/hlta-xai BatchBICScoreCalculator). ``batch_size`` None or 0 gives the plain BIC.
    """
    if batch_size and 0 < batch_size < total:
        return loglik * batch_size / total - dimension / 2 * math.log(batch_size)
    return loglik - dimension / 2 * math.log(total)
