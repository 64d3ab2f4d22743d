"""``python -m mlharbor``: the same as the ``mlharbor`` command."""

from mlharbor.cli import app

if __name__ == "__main__":
    app(prog_name="mlharbor")
