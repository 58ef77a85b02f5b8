from sidecar.cli.main import app

app()
