"""Immediate needs, risk assessments and the support and safety plan (SOPS §2 SOP 1
steps 4-5, SOP 2).
"""
