"""The engine's error types: one-line messages that name the input and what was expected."""


class EngineInputError(ValueError):
    """Bad input given to the engine (file, model name, layer, class index, method, tree).

    The message is one line: it names the offending input and says what was expected, so that
    the CLI can print it as is and go on with the next input.
    """
