"""The assistance pathway (SOPS §6.2 region B): first assistance, declined assistance
and re-entry, long-term assistance, return preparation, closing.
"""
