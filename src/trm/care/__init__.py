"""SOP 3 long-term assistance: the individual care plan, residence status records and
the log of services given (SOPS §2 SOP 3).
"""
