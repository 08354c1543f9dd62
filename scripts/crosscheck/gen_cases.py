import itertools, random
random.seed(7)
ops = ["", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"]
frags = ["1", "1.2", "1.2.3", "1.x", "1.2.x", "1.X", "*", "x", "0.2.3", "0.0.3", "0", "0.0", "0.2", "1.2.3-beta", "2.0.0-rc.1", "v1.2", "v1.2.3", "2", "2.1", "0.0.0", "1.2.3-0", "3.x.x", "1.*", "1.2.*"]
singles = [o + f for o in ops for f in frags]
singles += [o + " " + f for o in [">=", "<", "~", "^"] for f in ["1.2", "1.2.3", "2"]]
hyph = ["1.1 - 2", "1.2 - 1.4.5", "2.3.4 - 4.5", "1.2.3 - 2.3.4", "1 - 2", "1.2.3-beta - 2", "0 - 1.x", "1.x - 2.x"]
cons = set(singles + hyph)
for _ in range(400):
    a, b = random.sample(singles, 2)
    sep = random.choice([" ", ", ", ","])
    cons.add(a + sep + b)
for _ in range(200):
    a, b, c = random.sample(singles, 3)
    cons.add(a + " || " + b + " " + c)
for _ in range(50):
    cons.add(random.choice(hyph) + " || " + random.choice(singles))
vers = ["0.0.0", "0.0.1", "0.0.3", "0.0.4", "0.1.0", "0.2.3", "0.2.9", "0.3.0", "1.0.0", "1.0.0-alpha", "1.1.0", "1.1.9",
        "1.2.0", "1.2.2", "1.2.3", "1.2.3-beta", "1.2.3-beta.2", "1.2.3-alpha", "1.2.4", "1.2.4-0", "1.3.0", "1.4.5", "1.4.6",
        "1.9.9", "2.0.0", "2.0.0-rc.1", "2.0.0-rc.2", "2.0.1", "2.1.0", "2.3.4", "3.0.0", "3.5.1", "4.5.9", "4.6.0", "10.0.0", "1.2.3+build.5", "2.0.0-rc.1+b"]
with open("cases.tsv", "w") as f:
    for c in sorted(cons):
        for v in vers:
            f.write(f"{c}\t{v}\n")
print(len(cons), len(vers))
