"""`python -m benchmarks [module ...]`: time every workload and print the ratio table."""
import sys

from benchmarks.run import main

sys.exit(main(sys.argv[1:]))
