from vmaftune.cli import main

main()
