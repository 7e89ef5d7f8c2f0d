"""The WOX methods, one module each, registered with ``@register_method`` on import.

Importing this package imports every module in it
(:func:`explain_engine.registry.import_submodules`), so a new method is one new module here: a
:class:`explain_engine.wox.WoxMethod` subclass with the decorator. Like
:mod:`explain_engine.wox`, these modules do not load torch.
"""

from explain_engine.registry import import_submodules

import_submodules(__name__, __path__)

from explain_engine.methods.cwox_1sa import Cwox1sA  # noqa: E402
from explain_engine.methods.cwox_1sb import Cwox1sB  # noqa: E402
from explain_engine.methods.cwox_2s import Cwox2s  # noqa: E402
from explain_engine.methods.swox import Swox  # noqa: E402

__all__ = ["Cwox1sA", "Cwox1sB", "Cwox2s", "Swox"]
