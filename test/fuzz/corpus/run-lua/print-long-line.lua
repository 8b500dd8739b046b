print(("x"):rep(2000), "y")
