from medner.cli.main import app

app(prog_name="medner")
