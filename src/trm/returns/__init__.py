"""SOP 4 on the destination node: the return record and the guard of the journey."""
