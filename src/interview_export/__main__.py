"""``python -m interview_export`` → the command line (entry.main: cli.main, the PDF engine forked first)."""

from interview_export.entry import main

if __name__ == "__main__":
    main()
