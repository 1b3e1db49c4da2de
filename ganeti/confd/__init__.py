"""confd: signed UDP queries about the static configuration (protocol, answers, client)."""
