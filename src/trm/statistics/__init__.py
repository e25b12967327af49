"""Statistics, monitoring and data standards (issue "Statistics, monitoring and
data standards"; SOPS §4; ARCHITECTURE §4): historical de-identified records
(CTDC), HTCDS export and import, indicators and tables, and the disclosure
control every figure passes before it leaves the node."""
