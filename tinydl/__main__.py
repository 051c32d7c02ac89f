"""`python -m tinydl`: the demo. Trains an MLP on the bundled digits and prints test accuracy."""
import time

import tinydl as td
from tinydl.examples import mlp


def main():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    print(f"autograd: d/dx sum(x*x) at x={x.numpy().tolist()} is {x.grad.numpy().tolist()}")
    start = time.perf_counter()
    result = mlp.main(epochs=30, verbose=2)
    result["model"].summary()
    print(f"trained in {time.perf_counter() - start:.1f} s; test accuracy {result['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
