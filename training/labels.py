"""The labels every model scores, in the order the artifacts store them. A module of its own, with no imports,
so that code that only needs the names (validators, the site's client) does not load the model runtime."""

LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "spam"]
