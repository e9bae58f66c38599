"""What a running node needs beside its objects: leader election and scheduling."""
