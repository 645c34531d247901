from trustavatar._cli import main

main()
