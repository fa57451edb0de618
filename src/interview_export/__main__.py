"""``python -m interview_export`` → the command line (cli.main)."""

from interview_export.cli import main

if __name__ == "__main__":
    main()
