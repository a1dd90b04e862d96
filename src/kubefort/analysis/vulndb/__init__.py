"""Offline vulnerability matching: an OSV advisory database imported from files (:mod:`.store`),
matched with each ecosystem's version ordering (:mod:`.match`), and OpenVEX statements (:mod:`.vex`)."""
