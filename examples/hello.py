"""Hello, flows: two steps that pass an artifact, a parameter, and a metric.

limelight run examples/hello.py --name Ada
limelight inspect HelloFlow/1
"""

from limelight.flows import Flow, Param, current, step


class HelloFlow(Flow):
    name = Param(default="world", help="who to greet")

    @step
    def start(self):
        self.greeting = f"Hello, {self.name}!"
        print(self.greeting)
        self.next(self.shout)

    @step
    def shout(self):
        self.loud = self.greeting.upper()
        current.log_metric("length", len(self.loud))
        self.next(self.end)

    @step
    def end(self):
        print(f"run {current.run_id} says {self.loud}")


if __name__ == "__main__":
    run = HelloFlow.run(name="notebook")
    print(run, run.data.loud)
