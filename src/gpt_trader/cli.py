def main() -> None:
    raise NotImplementedError("cli")
