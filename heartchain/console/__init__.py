"""The charity console's own reads and off-log files: donation search, the address book of
registered organisations, and disbursement receipt files (their hash on the log, the file here)."""
