"""The rollout of a candidate version: `gates` (pure: a step's gates judged on the live
signals) and `controller` (the detached Ray actor that walks the steps, reads the
Router's and the Monitor's statistics, and promotes or rolls back). Imports the serve
package's control handles and the contract; never the monitor package (a Monitor reaches
the controller by its actor name)."""
