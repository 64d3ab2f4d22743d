"""mlharbor: a self-hosted machine-learning hub."""
